"""Legacy clients from other languages, driven by pytest against a real gateway."""
