"""Rules as data: the pack schema, YAML packs, compilation, storage and the live reference."""
