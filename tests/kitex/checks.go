package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"fanone/tests/kitex/kitex_gen/base"
	"fanone/tests/kitex/kitex_gen/chat"
	"fanone/tests/kitex/kitex_gen/image"
	"fanone/tests/kitex/kitex_gen/interaction"
	"fanone/tests/kitex/kitex_gen/social"
	"fanone/tests/kitex/kitex_gen/user"
	"fanone/tests/kitex/kitex_gen/video"
)

// FanOne's business codes (pkg/errno) that the checks expect.
const (
	codeParam          = 10002
	codeUserExists     = 10003
	codeAuthFailed     = 10004
	codeBadCredentials = 10005
	codeMfa            = 10006
	codeNotFound       = 10007
	codeForbidden      = 10008
	codeDuplicate      = 10009
	codeChatNotAllowed = 10010
)

func want(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

func page(n, size int64) *base.Page { return &base.Page{PageNum: n, PageSize: size} }

func ptr[T any](v T) *T { return &v }

// totpCode is RFC 6238 (SHA-1, 6 digits, 30 s), what FanOne's MFA checks.
func totpCode(secretB32 string, at time.Time) (string, error) {
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(secretB32))
	if err != nil {
		return "", fmt.Errorf("MFA secret %q is not base32: %w", secretB32, err)
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(at.Unix()/30))
	mac := hmac.New(sha1.New, key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	n := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", n%1_000_000), nil
}

func (s *suite) all() error {
	a, b, err := s.users()
	if err != nil {
		return err
	}
	vid, err := s.videos(a)
	if err != nil {
		return err
	}
	if err := s.interactions(a, b, vid); err != nil {
		return err
	}
	if err := s.relations(a, b); err != nil {
		return err
	}
	if err := s.chats(a, b); err != nil {
		return err
	}
	return s.images(a)
}

// users: every UserService method; returns two registered user ids.
func (s *suite) users() (int64, int64, error) {
	u := s.c.user
	nameA, nameB := "alice_"+s.cfg.tag, "bob_"+s.cfg.tag
	const pw = "secret12"
	reg := func(name string) (int64, error) {
		r, err := call(s, "user", "Register", func(ctx context.Context) (*user.RegisterResponse, error) {
			return u.Register(ctx, &user.RegisterRequest{Username: name, Password: pw})
		}, func(r *user.RegisterResponse) error { return want(r.UserId > 0, "user id %d", r.UserId) })
		if err != nil {
			return 0, err
		}
		return r.UserId, nil
	}
	a, err := reg(nameA)
	if err != nil {
		return 0, 0, err
	}
	b, err := reg(nameB)
	if err != nil {
		return 0, 0, err
	}
	steps := []func() error{
		func() error {
			return bizError(s, "user", "Register", codeUserExists, "username already exists", func(ctx context.Context) (*user.RegisterResponse, error) {
				return u.Register(ctx, &user.RegisterRequest{Username: nameA, Password: pw})
			})
		},
		func() error {
			_, err := call(s, "user", "Login", func(ctx context.Context) (*user.LoginResponse, error) {
				return u.Login(ctx, &user.LoginRequest{Username: nameA, Password: pw})
			}, func(r *user.LoginResponse) error {
				return want(r.User.Id == a && r.User.Username == nameA && !r.User.MfaEnabled, "logged in as %+v", r.User)
			})
			return err
		},
		func() error {
			return bizError(s, "user", "Login", codeBadCredentials, "wrong username or password", func(ctx context.Context) (*user.LoginResponse, error) {
				return u.Login(ctx, &user.LoginRequest{Username: nameB, Password: "not-" + pw})
			})
		},
		func() error {
			_, err := call(s, "user", "GetUser", func(ctx context.Context) (*user.GetUserResponse, error) {
				return u.GetUser(ctx, &user.GetUserRequest{UserId: b})
			}, func(r *user.GetUserResponse) error {
				return want(r.User.Id == b && r.User.Username == nameB && r.User.CreatedAt > 0, "got %+v", r.User)
			})
			return err
		},
		func() error {
			return bizError(s, "user", "GetUser", codeNotFound, "user not found", func(ctx context.Context) (*user.GetUserResponse, error) {
				return u.GetUser(ctx, &user.GetUserRequest{UserId: 1})
			})
		},
		func() error {
			_, err := call(s, "user", "MGetUsers", func(ctx context.Context) (*user.MGetUsersResponse, error) {
				return u.MGetUsers(ctx, &user.MGetUsersRequest{UserIds: []int64{b, 1, a}})
			}, func(r *user.MGetUsersResponse) error {
				return want(len(r.Users) == 2 && r.Users[0].Id == b && r.Users[1].Id == a, "want [b a] (unknown skipped), got %d users", len(r.Users))
			})
			return err
		},
		func() error {
			_, err := call(s, "user", "SearchUserIds", func(ctx context.Context) (*user.SearchUserIdsResponse, error) {
				return u.SearchUserIds(ctx, &user.SearchUserIdsRequest{Fragment: s.cfg.tag, Limit: 10})
			}, func(r *user.SearchUserIdsResponse) error {
				return want(len(r.UserIds) == 2 && slices.Contains(r.UserIds, a) && slices.Contains(r.UserIds, b), "ids %v", r.UserIds)
			})
			return err
		},
		func() error {
			avatar := "http://127.0.0.1/static/avatars/kitex/" + s.cfg.tag + ".png"
			_, err := call(s, "user", "UpdateAvatar", func(ctx context.Context) (*user.UpdateAvatarResponse, error) {
				return u.UpdateAvatar(ctx, &user.UpdateAvatarRequest{CallerId: a, AvatarUrl: avatar})
			}, func(r *user.UpdateAvatarResponse) error {
				return want(r.User.AvatarUrl == avatar, "avatar %q", r.User.AvatarUrl)
			})
			return err
		},
		func() error { return s.mfa(a, nameA, pw) },
		func() error { return s.sessions(a) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return 0, 0, err
		}
	}
	return a, b, nil
}

// mfa: MfaQrcode, MfaBind, then Login needs a code.
func (s *suite) mfa(a int64, name, pw string) error {
	u := s.c.user
	qr, err := call(s, "user", "MfaQrcode", func(ctx context.Context) (*user.MfaQrcodeResponse, error) {
		return u.MfaQrcode(ctx, &user.MfaQrcodeRequest{CallerId: a})
	}, func(r *user.MfaQrcodeResponse) error {
		return want(r.Secret != "" && strings.HasPrefix(r.Qrcode, "data:image/png;base64,"), "secret %q, qrcode %.30q", r.Secret, r.Qrcode)
	})
	if err != nil {
		return err
	}
	if err := bizError(s, "user", "MfaBind", codeMfa, "MFA code invalid", func(ctx context.Context) (*user.MfaBindResponse, error) {
		return u.MfaBind(ctx, &user.MfaBindRequest{CallerId: a, Secret: qr.Secret, Code: "000000x"})
	}); err != nil {
		return err
	}
	now := time.Now()
	code, err := totpCode(qr.Secret, now)
	if err != nil {
		return err
	}
	if _, err := call(s, "user", "MfaBind", func(ctx context.Context) (*user.MfaBindResponse, error) {
		return u.MfaBind(ctx, &user.MfaBindRequest{CallerId: a, Secret: qr.Secret, Code: code})
	}, nil); err != nil {
		return err
	}
	if err := bizError(s, "user", "Login", codeMfa, "MFA code required", func(ctx context.Context) (*user.LoginResponse, error) {
		return u.Login(ctx, &user.LoginRequest{Username: name, Password: pw})
	}); err != nil {
		return err
	}
	// the bind used this step's code: the next step's is accepted (one step of skew)
	next, err := totpCode(qr.Secret, now.Add(30*time.Second))
	if err != nil {
		return err
	}
	_, err = call(s, "user", "Login", func(ctx context.Context) (*user.LoginResponse, error) {
		return u.Login(ctx, &user.LoginRequest{Username: name, Password: pw, Code: &next})
	}, func(r *user.LoginResponse) error { return want(r.User.MfaEnabled, "mfa_enabled false after bind") })
	return err
}

// sessions: StartSession, RefreshSession (rotate and check), EndSession.
func (s *suite) sessions(a int64) error {
	u := s.c.user
	start, err := call(s, "user", "StartSession", func(ctx context.Context) (*user.SessionResponse, error) {
		return u.StartSession(ctx, &user.StartSessionRequest{UserId: a, ExpiresAt: time.Now().Add(time.Hour).UnixMilli()})
	}, func(r *user.SessionResponse) error { return want(r.SessionId > 0 && r.Generation > 0, "%+v", r) })
	if err != nil {
		return err
	}
	rotated, err := call(s, "user", "RefreshSession", func(ctx context.Context) (*user.SessionResponse, error) {
		return u.RefreshSession(ctx, &user.RefreshSessionRequest{UserId: a, SessionId: start.SessionId, Generation: start.Generation, Rotate: true})
	}, func(r *user.SessionResponse) error {
		return want(r.Generation != start.Generation, "rotate kept generation %d", r.Generation)
	})
	if err != nil {
		return err
	}
	if _, err := call(s, "user", "EndSession", func(ctx context.Context) (*user.EndSessionResponse, error) {
		return u.EndSession(ctx, &user.EndSessionRequest{UserId: a, SessionId: start.SessionId})
	}, nil); err != nil {
		return err
	}
	return bizError(s, "user", "RefreshSession", codeAuthFailed, "session ended; log in again", func(ctx context.Context) (*user.SessionResponse, error) {
		return u.RefreshSession(ctx, &user.RefreshSessionRequest{UserId: a, SessionId: start.SessionId, Generation: rotated.Generation})
	})
}

// videos: every VideoService method; returns the published video's id.
func (s *suite) videos(a int64) (int64, error) {
	v := s.c.video
	title := "kitex clip " + s.cfg.tag
	pub, err := call(s, "video", "Publish", func(ctx context.Context) (*video.PublishResponse, error) {
		return v.Publish(ctx, &video.PublishRequest{
			CallerId: a, Title: title, Description: "published by a Kitex client",
			VideoUrl: "http://127.0.0.1/static/videos/kitex/" + s.cfg.tag + ".mp4",
			CoverUrl: "http://127.0.0.1/static/covers/kitex/" + s.cfg.tag + ".png",
		})
	}, func(r *video.PublishResponse) error {
		return want(r.Video.Id > 0 && r.Video.UserId == a && r.Video.Title == title, "%+v", r.Video)
	})
	if err != nil {
		return 0, err
	}
	vid := pub.Video.Id
	steps := []func() error{
		func() error {
			return bizError(s, "video", "Publish", codeParam, "title is required", func(ctx context.Context) (*video.PublishResponse, error) {
				return v.Publish(ctx, &video.PublishRequest{CallerId: a, Title: " ", VideoUrl: "v", CoverUrl: "c"})
			})
		},
		func() error {
			_, err := call(s, "video", "ListByUser", func(ctx context.Context) (*video.ListByUserResponse, error) {
				return v.ListByUser(ctx, &video.ListByUserRequest{UserId: a, Page: page(0, 10)})
			}, func(r *video.ListByUserResponse) error {
				return want(r.Total == 1 && len(r.Videos) == 1 && r.Videos[0].Id == vid, "total %d", r.Total)
			})
			return err
		},
		func() error {
			_, err := call(s, "video", "Feed", func(ctx context.Context) (*video.FeedResponse, error) {
				return v.Feed(ctx, &video.FeedRequest{LatestTime: ptr(pub.Video.CreatedAt - 1), Page: page(0, 50)})
			}, func(r *video.FeedResponse) error {
				return want(slices.ContainsFunc(r.Videos, func(x *base.Video) bool { return x.Id == vid }), "video %d not in the feed", vid)
			})
			return err
		},
		func() error {
			_, err := call(s, "video", "Popular", func(ctx context.Context) (*video.PopularResponse, error) {
				return v.Popular(ctx, &video.PopularRequest{Page: page(0, 10)})
			}, func(r *video.PopularResponse) error { return want(r.Total >= 0, "total %d", r.Total) })
			return err
		},
		func() error {
			_, err := call(s, "video", "Search", func(ctx context.Context) (*video.SearchResponse, error) {
				return v.Search(ctx, &video.SearchRequest{Keywords: s.cfg.tag, UserIds: []int64{a}, Page: page(0, 10)})
			}, func(r *video.SearchResponse) error {
				return want(r.Total == 1 && r.Videos[0].Id == vid, "total %d", r.Total)
			})
			return err
		},
		func() error {
			_, err := call(s, "video", "MGetVideos", func(ctx context.Context) (*video.MGetVideosResponse, error) {
				return v.MGetVideos(ctx, &video.MGetVideosRequest{VideoIds: []int64{1, vid}})
			}, func(r *video.MGetVideosResponse) error {
				return want(len(r.Videos) == 1 && r.Videos[0].Id == vid, "%d videos", len(r.Videos))
			})
			return err
		},
		func() error {
			for n := int64(1); n <= 2; n++ {
				if _, err := call(s, "video", "Visit", func(ctx context.Context) (*video.VisitResponse, error) {
					return v.Visit(ctx, &video.VisitRequest{VideoId: vid})
				}, func(r *video.VisitResponse) error {
					return want(r.VisitCount == n, "visit count %d, want %d", r.VisitCount, n)
				}); err != nil {
					return err
				}
			}
			return nil
		},
		func() error {
			return bizError(s, "video", "Visit", codeNotFound, "video not found", func(ctx context.Context) (*video.VisitResponse, error) {
				return v.Visit(ctx, &video.VisitRequest{VideoId: 1})
			})
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return 0, err
		}
	}
	return vid, nil
}

// interactions: every InteractionService method.
func (s *suite) interactions(a, b, vid int64) error {
	in := s.c.interaction
	like := func(ctx context.Context) (*interaction.LikeActionResponse, error) {
		return in.LikeAction(ctx, &interaction.LikeActionRequest{CallerId: b, Kind: interaction.TargetKind_VIDEO, TargetId: vid, Action: interaction.LikeActionType_LIKE})
	}
	if _, err := call(s, "interaction", "LikeAction", like, nil); err != nil {
		return err
	}
	if err := bizError(s, "interaction", "LikeAction", codeDuplicate, "already liked", like); err != nil {
		return err
	}
	// LikeActions: several likes in one call, each answered as LikeAction would answer it
	likes := func(items ...*interaction.LikeActionRequest) func(context.Context) (*interaction.LikeActionsResponse, error) {
		return func(ctx context.Context) (*interaction.LikeActionsResponse, error) {
			return in.LikeActions(ctx, &interaction.LikeActionsRequest{Items: items})
		}
	}
	onVideo := func(caller int64, action interaction.LikeActionType) *interaction.LikeActionRequest {
		return &interaction.LikeActionRequest{CallerId: caller, Kind: interaction.TargetKind_VIDEO, TargetId: vid, Action: action}
	}
	if _, err := call(s, "interaction", "LikeActions", likes(onVideo(a, interaction.LikeActionType_LIKE), onVideo(b, interaction.LikeActionType_LIKE)), func(r *interaction.LikeActionsResponse) error {
		ok := len(r.Results) == 2 && r.Results[0].Err == nil && r.Results[1].Err != nil &&
			r.Results[1].Err.Code == codeDuplicate && r.Results[1].Err.Msg == "already liked"
		return want(ok, "results %+v", r.Results)
	}); err != nil {
		return err
	}
	if _, err := call(s, "interaction", "LikeActions", likes(onVideo(a, interaction.LikeActionType_CANCEL)), func(r *interaction.LikeActionsResponse) error {
		return want(len(r.Results) == 1 && r.Results[0].Err == nil, "results %+v", r.Results)
	}); err != nil {
		return err
	}
	if _, err := call(s, "interaction", "LikeList", func(ctx context.Context) (*interaction.LikeListResponse, error) {
		return in.LikeList(ctx, &interaction.LikeListRequest{UserId: b, Page: page(0, 10)})
	}, func(r *interaction.LikeListResponse) error {
		return want(r.Total == 1 && slices.Equal(r.VideoIds, []int64{vid}), "likes %v of %d", r.VideoIds, r.Total)
	}); err != nil {
		return err
	}
	top, err := call(s, "interaction", "CommentPublish", func(ctx context.Context) (*interaction.CommentPublishResponse, error) {
		return in.CommentPublish(ctx, &interaction.CommentPublishRequest{CallerId: a, VideoId: &vid, Content: "first, from Go"})
	}, func(r *interaction.CommentPublishResponse) error {
		return want(r.Comment.VideoId == vid && r.Comment.ParentId == 0, "%+v", r.Comment)
	})
	if err != nil {
		return err
	}
	reply, err := call(s, "interaction", "CommentPublish", func(ctx context.Context) (*interaction.CommentPublishResponse, error) {
		return in.CommentPublish(ctx, &interaction.CommentPublishRequest{CallerId: b, ParentId: &top.Comment.Id, Content: "a reply"})
	}, func(r *interaction.CommentPublishResponse) error {
		return want(r.Comment.VideoId == vid && r.Comment.ParentId == top.Comment.Id, "%+v", r.Comment)
	})
	if err != nil {
		return err
	}
	if err := bizError(s, "interaction", "CommentPublish", codeParam, "video_id or comment_id is required", func(ctx context.Context) (*interaction.CommentPublishResponse, error) {
		return in.CommentPublish(ctx, &interaction.CommentPublishRequest{CallerId: a, Content: "nowhere"})
	}); err != nil {
		return err
	}
	if _, err := call(s, "interaction", "CommentList", func(ctx context.Context) (*interaction.CommentListResponse, error) {
		return in.CommentList(ctx, &interaction.CommentListRequest{VideoId: &vid, Page: page(0, 10)})
	}, func(r *interaction.CommentListResponse) error {
		return want(r.Total == 1 && r.Comments[0].Id == top.Comment.Id, "total %d", r.Total)
	}); err != nil {
		return err
	}
	if _, err := call(s, "interaction", "CommentList", func(ctx context.Context) (*interaction.CommentListResponse, error) {
		return in.CommentList(ctx, &interaction.CommentListRequest{ParentId: &top.Comment.Id, Page: page(0, 10)})
	}, func(r *interaction.CommentListResponse) error {
		return want(r.Total == 1 && r.Comments[0].Id == reply.Comment.Id, "total %d", r.Total)
	}); err != nil {
		return err
	}
	if _, err := call(s, "interaction", "MGetVideoStats", func(ctx context.Context) (*interaction.MGetVideoStatsResponse, error) {
		return in.MGetVideoStats(ctx, &interaction.MGetVideoStatsRequest{CallerId: b, VideoIds: []int64{vid}})
	}, func(r *interaction.MGetVideoStatsResponse) error {
		return want(len(r.Stats) == 1 && r.Stats[0].LikeCount == 1 && r.Stats[0].IsLiked && r.Stats[0].CommentCount >= 1, "%+v", r.Stats)
	}); err != nil {
		return err
	}
	if err := bizError(s, "interaction", "CommentDelete", codeForbidden, "only the author may delete a comment", func(ctx context.Context) (*interaction.CommentDeleteResponse, error) {
		return in.CommentDelete(ctx, &interaction.CommentDeleteRequest{CallerId: b, CommentId: top.Comment.Id})
	}); err != nil {
		return err
	}
	_, err = call(s, "interaction", "CommentDelete", func(ctx context.Context) (*interaction.CommentDeleteResponse, error) {
		return in.CommentDelete(ctx, &interaction.CommentDeleteRequest{CallerId: b, CommentId: reply.Comment.Id})
	}, nil)
	return err
}

// relations: every SocialService method; a and b end up friends.
func (s *suite) relations(a, b int64) error {
	so := s.c.social
	follow := func(from, to int64) func(ctx context.Context) (*social.RelationActionResponse, error) {
		return func(ctx context.Context) (*social.RelationActionResponse, error) {
			return so.RelationAction(ctx, &social.RelationActionRequest{CallerId: from, ToUserId: to, Action: social.RelationActionType_FOLLOW})
		}
	}
	if _, err := call(s, "social", "RelationAction", follow(a, b), nil); err != nil {
		return err
	}
	if _, err := call(s, "social", "RelationAction", follow(b, a), nil); err != nil {
		return err
	}
	if err := bizError(s, "social", "RelationAction", codeDuplicate, "cannot follow yourself", follow(a, a)); err != nil {
		return err
	}
	if _, err := call(s, "social", "ListRelations", func(ctx context.Context) (*social.ListRelationsResponse, error) {
		return so.ListRelations(ctx, &social.ListRelationsRequest{UserId: a, Kind: social.ListKind_FRIEND, Page: page(0, 10)})
	}, func(r *social.ListRelationsResponse) error {
		return want(r.Total == 1 && slices.Equal(r.UserIds, []int64{b}), "friends %v", r.UserIds)
	}); err != nil {
		return err
	}
	_, err := call(s, "social", "IsFriend", func(ctx context.Context) (*social.IsFriendResponse, error) {
		return so.IsFriend(ctx, &social.IsFriendRequest{UserId: a, OtherId: b})
	}, func(r *social.IsFriendResponse) error { return want(r.IsFriend, "not friends") })
	return err
}

// chats: every ChatService method.
func (s *suite) chats(a, b int64) error {
	ch := s.c.chat
	sent, err := call(s, "chat", "Send", func(ctx context.Context) (*chat.SendResponse, error) {
		return ch.Send(ctx, &chat.SendRequest{CallerId: a, ToUserId: b, Content: "hello from Kitex"})
	}, func(r *chat.SendResponse) error {
		return want(r.Message.FromUserId == a && r.Message.ToUserId == b && !r.Message.Read_, "%+v", r.Message)
	})
	if err != nil {
		return err
	}
	if err := bizError(s, "chat", "Send", codeChatNotAllowed, "cannot send a message to yourself", func(ctx context.Context) (*chat.SendResponse, error) {
		return ch.Send(ctx, &chat.SendRequest{CallerId: a, ToUserId: a, Content: "me"})
	}); err != nil {
		return err
	}
	if _, err := call(s, "chat", "History", func(ctx context.Context) (*chat.HistoryResponse, error) {
		return ch.History(ctx, &chat.HistoryRequest{CallerId: b, PeerId: a, Page: page(0, 10)})
	}, func(r *chat.HistoryResponse) error {
		return want(r.Total == 1 && r.Messages[0].Id == sent.Message.Id, "total %d", r.Total)
	}); err != nil {
		return err
	}
	if _, err := call(s, "chat", "Unread", func(ctx context.Context) (*chat.UnreadResponse, error) {
		return ch.Unread(ctx, &chat.UnreadRequest{CallerId: b, PeerId: &a})
	}, func(r *chat.UnreadResponse) error {
		return want(len(r.Messages) == 1 && r.Messages[0].Content == "hello from Kitex", "%d unread", len(r.Messages))
	}); err != nil {
		return err
	}
	_, err = call(s, "chat", "MarkRead", func(ctx context.Context) (*chat.MarkReadResponse, error) {
		return ch.MarkRead(ctx, &chat.MarkReadRequest{CallerId: b, MessageIds: []int64{sent.Message.Id}})
	}, nil)
	return err
}

// images: every ImageService method (the success paths need -image-url/-image-file).
func (s *suite) images(a int64) error {
	im := s.c.image
	if err := bizError(s, "image", "IndexImage", codeParam, "url must be an http(s) URL of at most 760 bytes", func(ctx context.Context) (*image.IndexImageResponse, error) {
		return im.IndexImage(ctx, &image.IndexImageRequest{Url: "ftp://example.com/a.png", Kind: image.ImageKind_COVER, OwnerId: a})
	}); err != nil {
		return err
	}
	if err := bizError(s, "image", "SearchImage", codeParam, "data is empty", func(ctx context.Context) (*image.SearchImageResponse, error) {
		return im.SearchImage(ctx, &image.SearchImageRequest{Data: nil, TopK: 1})
	}); err != nil {
		return err
	}
	if s.cfg.imageURL == "" || s.cfg.imageFile == "" {
		fmt.Println("note image.IndexImage / image.SearchImage success paths not run (no -image-url and -image-file)")
		return nil
	}
	data, err := os.ReadFile(s.cfg.imageFile)
	if err != nil {
		return err
	}
	idx, err := call(s, "image", "IndexImage", func(ctx context.Context) (*image.IndexImageResponse, error) {
		return im.IndexImage(ctx, &image.IndexImageRequest{Url: s.cfg.imageURL, Kind: image.ImageKind_COVER, OwnerId: a})
	}, func(r *image.IndexImageResponse) error { return want(r.ImageId > 0, "image id %d", r.ImageId) })
	if err != nil {
		return err
	}
	_, err = call(s, "image", "SearchImage", func(ctx context.Context) (*image.SearchImageResponse, error) {
		return im.SearchImage(ctx, &image.SearchImageRequest{Data: data, TopK: 3})
	}, func(r *image.SearchImageResponse) error {
		return want(len(r.Hits) >= 1 && r.Hits[0].ImageId == idx.ImageId && r.Hits[0].Url == s.cfg.imageURL && r.Hits[0].Score > 0.99,
			"best hit %+v, want image %d at %s", r.Hits, idx.ImageId, s.cfg.imageURL)
	})
	return err
}
