"""`python -m resnet_any.train`."""
from resnet_any.train.cli import entry

if __name__ == "__main__":
    entry()
