"""fastnn: fast CPU training and hyperparameter search for fully connected networks."""

from fastnn._config import config, show_config
from fastnn._threads import get_num_threads, set_num_threads
from fastnn._version import __version__

__all__ = ["__version__", "config", "show_config", "get_num_threads", "set_num_threads"]
