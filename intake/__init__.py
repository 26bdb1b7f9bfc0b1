"""What was received and from whom: reports, receipts, encryption, citizen pages."""
