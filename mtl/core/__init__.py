"""The contract and the engine: no concrete datasets or models live here."""
