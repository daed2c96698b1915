"""The supervision centre's reports: the daily data report (``daily``) as XLSX and PDF."""
