"""Working tickets after intake: routing, access rules, the actions, and the staff chat."""
