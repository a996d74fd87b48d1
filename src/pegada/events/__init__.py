"""Events on a contact's timeline (enrolments, applications…): recording and editing them."""
