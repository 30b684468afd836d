-- (a) Each request submits a different assignment through its own portal link.
dofile(os.getenv("TANDEM_WRK_LUA") .. "/common.lua")
local pending, body, i = nil, nil, 0

function init(args)
  pending = share(args[1])
  body = slurp(args[2])
end

function request()
  i = i + 1
  local assignment, token = (pending[i] or pending[#pending]):match("(%S+) (%S+)")
  return wrk.format("POST", "/portal/api/assignments/" .. assignment .. "/submit",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
