"""Network blocks shared by models: dense and conv nets, time-conditioned MLP, small U-Net."""
