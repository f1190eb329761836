"""Personal data over its life (UU 27/2022): what a citizen may see, correct and have erased
(the dialogue, the requests as tracked items), erasing a ticket's data (`erasure`) and the
retention periods that say when (`retention`). Masking for staff messages and logs is
`workflows.validation` (mask_nik, mask_phone, redaction)."""
