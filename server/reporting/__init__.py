"""The province's report: figures from the event log (:mod:`.metrics`), the printable report
(:mod:`.render`, HTML and PDF), the spreadsheets (:mod:`.tables`, CSV and XLSX), the period asked
for (:mod:`.period`) and the weekly schedule (:mod:`.schedule`). See docs/reports.md."""
