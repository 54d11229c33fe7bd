-- Until the writer encoded attributes itself, psycopg's jsonb dumper encoded our JSON text a
-- second time, so positions.attributes held a JSON string ("{\"ignition\":true}") instead of
-- an object. Turn those back into objects.
update positions
   set attributes = (attributes #>> '{}')::jsonb
 where jsonb_typeof(attributes) = 'string';
