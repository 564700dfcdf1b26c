"""Package data: the bundled model(s), their manifest and card (read through :mod:`serapp.bundle`)."""
