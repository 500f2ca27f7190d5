"""Everything kept on disk: the data folder, TinyDB settings and the encrypted credential vault."""

__all__: list[str] = []
