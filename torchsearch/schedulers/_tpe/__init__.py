"""The math of :class:`torchsearch.schedulers.TPE`: the space's encoding (``encoding``) and the
Parzen estimators (``parzen``). The scheduler itself (which trials are good, running trials,
start-up, repeats) lives in ``schedulers/tpe.py``."""
