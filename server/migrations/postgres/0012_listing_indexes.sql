-- The admin API's listings page by (time, id): indexes in that order, so a page is a range
-- scan, however many rows there are.
CREATE INDEX users_by_creation ON users (created_at, id);
CREATE INDEX clients_by_creation ON clients (created_at, id);
CREATE INDEX devices_by_enrollment ON devices (enrolled_at, id);
CREATE INDEX requests_by_creation ON requests (created_at, id);
