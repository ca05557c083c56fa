"""What Locust loads. A locustfile needs just

    from cacheswarm.glue.locustfile import *  # noqa: F401,F403

the users (one class per phase), the phase shape, and, by importing run.py, the listeners."""

from . import run  # noqa: F401  (registers the listeners: options on Locust's parser, init, a run's start and end)
from .shape import ComparePhases
from .users import USER_CLASSES

# e.g. ProductsOnMySQLCacheAsideUser: Locust keeps each phase's users (and stats names) apart
globals().update({cls.__name__: cls for cls in USER_CLASSES.values()})
__all__ = [*(cls.__name__ for cls in USER_CLASSES.values()), "ComparePhases"]
