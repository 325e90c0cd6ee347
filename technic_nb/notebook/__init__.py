"""Front ends in Jupyter and the console: the runner, its panel (tqdm.notebook bars,
Cancel) and the live table.

Internal: the public API is what ``technic_nb`` exports."""
