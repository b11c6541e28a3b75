"""Make the shared step-sequence helpers importable from the weighting tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
