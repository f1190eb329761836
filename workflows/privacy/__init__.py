"""Personal data (UU 27/2022): what a citizen may see, correct and have erased, and keeping
NIK and phone numbers out of staff messages and logs."""
