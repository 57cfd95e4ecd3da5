-- The work of the service's createChat, for PostGraphile to expose as its generated mutation:
-- the key looked up by its SHA-256, a session and its chat written together, and the event sent
-- with the commit, as the service sends it.
CREATE OR REPLACE FUNCTION create_chat(topic text) RETURNS chats
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  account uuid;
  session uuid := gen_random_uuid();
  created chats;
BEGIN
  SELECT account_id INTO account FROM api_keys
  WHERE key_hash = encode(sha256(convert_to(current_setting('chats.api_key', true), 'UTF8')), 'hex')
    AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now());
  IF account IS NULL THEN
    RAISE EXCEPTION 'Unauthorized' USING ERRCODE = '28000';
  END IF;
  INSERT INTO sessions (id, account_id, artist_id, created_at) VALUES (session, account, NULL, now());
  INSERT INTO chats (id, session_id, account_id, title, created_at, updated_at)
  VALUES (gen_random_uuid(), session, account, coalesce(nullif(btrim(topic), ''), 'New chat'), now(), now())
  RETURNING * INTO created;
  PERFORM pg_notify('chat_events', json_build_object('type', 'CREATED', 'chat', row_to_json(created))::text);
  RETURN created;
END
$$;

-- The payload's field is `chat`, as in the service's CreateChatPayload.
COMMENT ON FUNCTION create_chat(text) IS E'@resultFieldName chat';
