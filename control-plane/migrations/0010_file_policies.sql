-- Policies of the files pseudo-collection (`_files`): their `collection_id` is the project's own
-- id, which no collection has, so the column no longer references control.collections. A
-- collection's policies still go with it, and a project's file policies with the project.
ALTER TABLE control.policies DROP CONSTRAINT IF EXISTS policies_collection_id_fkey;

CREATE FUNCTION control.drop_owned_policies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM control.policies WHERE collection_id = OLD.id;
    RETURN OLD;
END
$$;

CREATE TRIGGER collections_drop_policies AFTER DELETE ON control.collections
    FOR EACH ROW EXECUTE FUNCTION control.drop_owned_policies();
CREATE TRIGGER projects_drop_file_policies AFTER DELETE ON control.projects
    FOR EACH ROW EXECUTE FUNCTION control.drop_owned_policies();
