"""`python -m resnet_any.sweep --config sweep.yaml`."""
import sys

from resnet_any.sweep.cli import main

sys.exit(main())
