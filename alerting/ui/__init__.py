"""The web console (``inferwatch ui``): active alerts, one alert's history and plot, silences, ack and resolve.

It reads and changes the same Redis as the escalation engine, only through ``AlertingService`` (the console decides
nothing itself), and never delivers: the workers' next tick sends the messages an acknowledgement or resolve queued.

Modules: ``auth`` (who may use it, sessions, CSRF), ``plot`` (the inline SVG), ``pages`` (HTML), ``server``
(HTTP), ``cli`` (the command). Filters and silence forms take matchers as ``inferwatch silence add --match`` does
(``alerting.matchers.parse_matcher_text``).
"""
