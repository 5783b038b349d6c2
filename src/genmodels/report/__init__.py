"""Reports: image grids, animations, plots and the HTML comparison report."""
