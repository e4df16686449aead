"""Checkpoints: the format and the reader and validation without torch (`reader`, `validation`); saving and
loading with torch (`saving`)."""
