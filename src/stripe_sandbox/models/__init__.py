"""Behaviour of each Stripe resource. Functions take a ``Tx`` and parsed params and return
API objects (dicts); they never see HTTP."""
