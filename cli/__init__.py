"""The `compressor` command line: thin click commands over compressor.compression."""
