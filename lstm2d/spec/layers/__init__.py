"""The layer kinds, one module per family (each lists its public names in ``__all__``); ``lstm2d.spec`` imports them all,
which registers every kind. A new kind is added in its family module alone."""
