"""`python -m resnet_any.train`."""
from resnet_any.errors import cli_environment

if __name__ == "__main__":
    cli_environment()  # before torch loads
    from resnet_any.train.cli import entry

    entry()
