-- Which key seals this database's links (SPEC §7). Every replica must seal with one key, or the
-- dispatchers of the others cannot open the links it issues and their mail waits for ever. The
-- first replica with a configured --token_sealing_key_file records the key's check value
-- (TokenSealer::KeyFingerprint, an HMAC of a fixed label under the key: never the key, and of no
-- use for opening or forging a sealed token); a replica whose key gives another value refuses to
-- start. One row at most. Rotating the key deliberately is an operator's act: see README
-- "Rotating the token sealing key".
CREATE TABLE token_sealing_key (
  id TINYINT UNSIGNED NOT NULL,
  fingerprint CHAR(64) NOT NULL,
  recorded_by VARCHAR(255) NOT NULL,
  create_time DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  CONSTRAINT ck_token_sealing_key_one_row CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
