-- (d) The floor: GET / on the bare ASGI app.
dofile(os.getenv("TANDEM_WRK_LUA") .. "/common.lua")

function request()
  return wrk.format("GET", "/")
end
