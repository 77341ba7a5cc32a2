"""The only code that talks to OpenStack: Keystone (``keystone``: trusts,
a job's authority) and Glance (``glance``: clients, quotas, image
deletion). The dashboards and the worker call it; the engine gets a
Glance client from it and never builds one."""
