-- The peer's submits: the same QuestionnaireResponse each time.
dofile(os.getenv("TANDEM_WRK_LUA") .. "/common.lua")
local path, body = nil, nil

function init(args)
  path = args[1]
  body = slurp(args[2])
end

function request()
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end
