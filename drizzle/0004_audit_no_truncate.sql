-- Row triggers do not fire on TRUNCATE, which would empty the log in one statement and leave
-- a chain of zero rows that still verifies. Refuse it like UPDATE and DELETE.
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
