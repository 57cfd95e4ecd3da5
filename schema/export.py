"""Write the schema's SDL to schema/schema.graphql: `python -m schema.export`."""

from schema.schema import SDL_PATH, sdl

if __name__ == "__main__":
    SDL_PATH.write_text(sdl())
    print(f"wrote {SDL_PATH}")
