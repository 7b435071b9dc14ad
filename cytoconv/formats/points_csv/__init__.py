"""points-csv: cell centres, one CSV for many images (CRIC Cervix's ``classifications.csv``, or any CSV whose
columns ``--columns`` names)."""
