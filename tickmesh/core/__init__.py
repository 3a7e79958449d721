"""Pure building blocks shared by every layer: clocks, ids, errors and decimal helpers."""
