"""Mask formats: semantic masks, integer label images and one mask per object, with their pairing and checks."""
