"""points-txt: cell centres, one ``x y class`` file per image (Chula RBC-12 ``Dataset/`` + ``Label/``)."""
