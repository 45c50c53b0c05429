-- wrk script: POST the picture named by FANONE_SEARCH_IMAGE to /user/image/search
-- as the multipart field `data` (bench/image/e2e.sh, bench/http/profile.sh)
local path = assert(os.getenv("FANONE_SEARCH_IMAGE"), "set FANONE_SEARCH_IMAGE")
local f = assert(io.open(path, "rb"))
local img = f:read("*a")
f:close()
local b = "fanonebenchboundary"
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. b
wrk.body = "--" .. b .. "\r\nContent-Disposition: form-data; name=\"data\"; filename=\"q.jpg\"\r\n"
  .. "Content-Type: image/jpeg\r\n\r\n" .. img .. "\r\n--" .. b .. "--\r\n"
