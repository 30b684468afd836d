-- (c) Pages of 50 assignments changed since one of many moments.
dofile(os.getenv("TANDEM_WRK_LUA") .. "/common.lua")
local moments, headers, i = nil, {}, 0

function init(args)
  moments = share(args[1])
  headers["Authorization"] = "Bearer " .. args[2]
end

function request()
  i = i % #moments + 1
  local since = moments[i]:gsub("+", "%%2B")
  return wrk.format("GET", "/v1/assignments?limit=50&updated_since=" .. since, headers)
end
