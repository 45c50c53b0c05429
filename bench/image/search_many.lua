-- wrk script: POST the pictures listed (one path per line) in the file named by
-- FANONE_SEARCH_LIST to /user/image/search, in turn, as the multipart field `data`
-- (bench/image/e2e.sh with a query directory). Every thread starts at its own offset.
local list = assert(os.getenv("FANONE_SEARCH_LIST"), "set FANONE_SEARCH_LIST")
local b = "fanonebenchboundary"
local bodies = {}
for path in io.lines(list) do
  local f = assert(io.open(path, "rb"))
  local img = f:read("*a")
  f:close()
  bodies[#bodies + 1] = "--" .. b .. "\r\nContent-Disposition: form-data; name=\"data\"; filename=\"q\"\r\n"
    .. "Content-Type: application/octet-stream\r\n\r\n" .. img .. "\r\n--" .. b .. "--\r\n"
end
assert(#bodies > 0, "empty list")
local headers = { ["Content-Type"] = "multipart/form-data; boundary=" .. b }
local counter = 0
local next_id = 0

function setup(thread)
  thread:set("offset", next_id * 97)
  next_id = next_id + 1
end

function init(args)
  counter = offset or 0
end

function request()
  counter = counter + 1
  return wrk.format("POST", nil, headers, bodies[(counter % #bodies) + 1])
end
