"""Personal data over its life: erasing a ticket's (workflows.privacy.erasure) and the retention
periods that say when (workflows.privacy.retention)."""
