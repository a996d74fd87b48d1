"""The read side's SQL for reports, one module per concern:

- `span`: the range of local days a report covers, and local days on both databases;
- `dimensions`: the breakdown dimensions and their key columns;
- `rollups`, `refresh_state`: the rollup tables (`report_visits`, `report_pages`,
  `report_gaps`) rebuilt per session off the hit path, and how far each tenant's are up to
  date;
- `visits`, `conversions`, `contacts`, `pages`, `events`, `completeness`: what each report
  reads;
- `contact_list`: the contacts list and its search.

Every statement filters by tenant. Reports read either a rollup over an indexed range of
days or a base table over an indexed range of times; the rollups make distinct visitors a
plain count (see `report_visits` in storage/tables.py), so a year of data is one pass.
"""
