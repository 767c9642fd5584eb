"""Alerting: rules on connections, topics and values, alert instances, and their notifications (docs/alerts.md).

- `models`: AlertRule (scoped to a site, a connection or a topic), NotificationChannel, Alert.
- `evaluate`: what each kind of rule finds wrong right now (pure functions of the database and a time).
- `service`: one evaluation round: open, resolve and remind alerts, then hand the notifications over.
- `notify` / `channels`: the message bodies, grouping, and delivery by webhook, e-mail and Apprise.
- `targets`: no webhook or Apprise target on a private address unless allowed (checked on save and on send).
- `removal`: a rule being deleted resolves, and notifies, its open alerts first.
- `reporting`: Sentry: firing alerts reported, their issues resolved with them.
"""
