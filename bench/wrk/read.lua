-- (b) and the peer's reads: GET <prefix><id>, cycling through the ids.
dofile(os.getenv("TANDEM_WRK_LUA") .. "/common.lua")
local ids, headers, prefix, i = nil, {}, nil, 0

function init(args)
  ids = share(args[1])
  if args[2] ~= "" then headers["Authorization"] = "Bearer " .. args[2] end
  prefix = args[3]
end

function request()
  i = i % #ids + 1
  return wrk.format("GET", prefix .. ids[i], headers)
end
