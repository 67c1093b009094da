"""The traffic-regime matrix of issue 7: an independent traffic generator, its cells, and page counting.

The generator here shares no code or assumptions with ``streams/simulate.py`` on purpose: the detectors were tuned
on that simulator, so judging them on its traffic again would only show how well they fit it.
"""
