"""Personal data (UU 27/2022): what a citizen may see, correct and have erased (the dialogue,
the requests as tracked items, erasure). Masking for staff messages and logs is
`workflows.validation` (mask_nik, mask_phone, redaction)."""
