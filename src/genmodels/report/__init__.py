"""Reports: image grids, animations, plots and the HTML comparison report.

- `figure`: the writers every picture goes through (`save_figure`, `save_png`, `save_gif`),
  atomically, on matplotlib's Agg backend;
- `grid`, `animate`: image grids and trajectory GIFs;
- `plots`, `html`: the comparison report's figures and page, drawn from anything shaped
  like `schema.MethodRow` / `schema.ComparisonReport` (the report imports no runner).
"""
