"""The Experiment spec: Katib's v1beta1 models (``models``), v1alpha3 conversion and loading (``loader``),
Katib's defaults (``defaults``), validation (``validation``) and the shared search space (``space``).

Import the submodules directly: this package imports nothing, so that ``pykatib.suggest`` can use
``pykatib.spec.errors`` while ``pykatib.spec.validation`` uses ``pykatib.suggest``.
"""
